"""I2C sensor drivers: one module per chip, register map as data, pure decode, thin I/O."""
