"""`edge-gateway pub` and `edge-gateway sub`: mosquitto_pub / mosquitto_sub look-alikes on paho-mqtt.

options.py parses mosquitto's command lines (the same flags, defaults and error texts), output.py
prints a received message as mosquitto_sub does (-v, -N, -F), link.py connects a paho client and
turns every failure into one line and mosquitto's exit status, pub.py and sub.py are the two tools.
"""
