package kernel

var DebugTrace bool

func dbg(s string, v uint64) {
	if DebugTrace {
		Print("[dbg ")
		Print(s)
		Print(" ")
		PrintHex(v)
		Print(" t")
		PrintDec(uint64(cur().TID))
		Print("]\n")
	}
}
