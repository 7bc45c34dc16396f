"""Catena's telematics data service, simulated: every data resource of the newest spec, lazily generated."""
