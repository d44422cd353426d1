package mm

import "testing"

func TestEPT(t *testing.T) {
	mem := newGoTables(t)
	e, err := NewEPT(mem)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Pointer() &^ eptAddr; got != 0x1e {
		t.Fatalf("EPTP flags %#x, want WB + 4-level (0x1e)", got)
	}
	if err := e.Map(0x1000, 0x55000, EPTRead|EPTWrite); err != nil {
		t.Fatal(err)
	}
	if err := e.Map(0x1000, 0x56000, EPTRead); err != ErrMapped {
		t.Fatalf("remap: %v, want ErrMapped", err)
	}
	if err := e.MapLarge(0x200000, 0x400000, EPTRead|EPTWrite|EPTExec); err != nil {
		t.Fatal(err)
	}
	if err := e.Map(0x201000, 0x57000, EPTRead); err != ErrHugeInWay {
		t.Fatalf("4 KiB page inside a 2 MiB one: %v", err)
	}
	for _, c := range []struct {
		gpa, hpa, perm uint64
		ok             bool
	}{
		{0x1234, 0x55234, EPTRead | EPTWrite, true},
		{0x2000, 0, 0, false},
		{0x3fffff, 0x5fffff, EPTRead | EPTWrite | EPTExec, true},
		{0x400000, 0, 0, false},
		{1 << 48, 0, 0, false},
	} {
		hpa, perm, ok := e.Lookup(c.gpa)
		if ok != c.ok || hpa != c.hpa || perm != c.perm {
			t.Errorf("Lookup(%#x) = %#x %#x %v, want %#x %#x %v", c.gpa, hpa, perm, ok, c.hpa, c.perm, c.ok)
		}
	}
	if err := e.SetPerm(0x300000, EPTRead); err != nil {
		t.Fatal(err)
	}
	if _, perm, _ := e.Lookup(0x200000); perm != EPTRead {
		t.Fatalf("SetPerm on a 2 MiB page: perm %#x", perm)
	}
	if hpa, large, err := e.Unmap(0x200000); err != nil || !large || hpa != 0x400000 {
		t.Fatalf("Unmap large = %#x %v %v", hpa, large, err)
	}
	if hpa, large, err := e.Unmap(0x1000); err != nil || large || hpa != 0x55000 {
		t.Fatalf("Unmap = %#x %v %v", hpa, large, err)
	}
	if _, _, err := e.Unmap(0x1000); err != ErrNotMapped {
		t.Fatalf("second Unmap: %v", err)
	}
	if e.Tables == 0 {
		t.Fatal("no tables counted")
	}
	e.Destroy()
	if e.Tables != 0 || len(mem.tables) != 0 {
		t.Fatalf("after Destroy: %d tables counted, %d live", e.Tables, len(mem.tables))
	}
}
