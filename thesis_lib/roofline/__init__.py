"""The loader roofline: a machine's measured primitives (its profile), and a model that predicts a
run's loading rate from them and names the resource that binds it."""
from .profile import FIELDS, Profile, ProfileError, Stat

__all__ = ["FIELDS", "Profile", "ProfileError", "Stat"]
