"""GPIO devices on gpiozero pin factories."""
