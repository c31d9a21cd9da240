"""The call bridge: spaces, calls, call legs, dial plans, IVR, layouts."""
