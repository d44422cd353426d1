// Package acpipm powers the machine off through the PM1a control register
// of the ACPI fixed hardware (ACPI 6.5 §4.8.3.2.1), at the I/O ports
// QEMU's and Bochs' chipsets (PIIX4 and ICH9 power management) place it
// at. It is the only code that touches those registers.
package acpipm

import "beelzebox/cpu"

// PM1a_CNT_BLK ports: QEMU's firmware puts the PM I/O base at 0x600,
// Bochs' BIOS at 0xb000; PM1a_CNT is at offset 4.
const (
	pm1aControlQEMU  = 0x604
	pm1aControlBochs = 0xb004
)

// PM1 control register fields.
const (
	slpTypShift = 10      // SLP_TYPx: bits 12:10
	slpEn       = 1 << 13 // SLP_EN: enter the sleep state
	// slpTypS5 is the \_S5 package's value in QEMU's and Bochs' DSDTs.
	slpTypS5 = 0
)

// sleepS5 is what PowerOff writes: S5 (soft off), SLP_EN.
const sleepS5 = slpTypS5<<slpTypShift | slpEn

// PowerOff enters S5 through both emulators' PM1a control registers. It
// returns where neither powers the machine off.
func PowerOff() {
	cpu.Outw(pm1aControlQEMU, sleepS5)
	cpu.Outw(pm1aControlBochs, sleepS5)
}
