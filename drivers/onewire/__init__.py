"""1-Wire sensor drivers, read through the Linux w1 sysfs interface."""
