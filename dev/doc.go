// Package dev is the root of beelzebox's device drivers: one package per
// device, each the only code that touches that device's registers or I/O
// ports. The machine-independent kernel (package kernel) programs devices
// only through them.
//
//   - lapic: the local APIC of each CPU, xAPIC (MMIO) or x2APIC (MSRs)
//   - ioapic: the I/O APIC (every redirection entry masked)
//   - pic: the legacy 8259 pair
//   - pit: the 8254 interval timer
//   - hpet: the high precision event timer's main counter
//   - uart: COM1, a 16550
//   - debugport: the emulators' debug console (port 0xE9) and exit ports
//   - acpipm: ACPI power-off through the PM1a control register
//
// Everything here may run before the Go runtime is up (the console and
// the clock are programmed from boot.start) and in handler context: no
// allocation, no package-level variables that need initialisation code,
// failures reported as booleans.
package dev
