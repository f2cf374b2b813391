"""Register-level models of the STM32U585 peripherals that applications use.

`board.Peripherals` creates and maps them; each model is a
`base.Peripheral` with an explicit register map.
"""
