package cpu

//go:generate go run gen_vectors.go
//go:generate go run gen_trampoline.go
