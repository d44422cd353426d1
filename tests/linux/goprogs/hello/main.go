// hello is the static Go hello of the linuxbench workloads.
package main

import "fmt"

func main() { fmt.Println("hello") }
