"""mlmon: symptom-first monitoring for machine-learning services.

Importing this package has no side effects: nothing is registered, configured or started.
"""

__version__ = "0.1.0"
