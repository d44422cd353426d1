/* empty: the smallest program, for the linuxbench workload "empty-c". */
int main(void) { return 0; }
