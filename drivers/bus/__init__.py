"""Bus seams: the small subsets of smbus2 / pyserial / gpiozero that drivers may use."""
