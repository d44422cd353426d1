package cpu

//go:generate go run gen_vectors.go
