"""Thorlabs FW102C / FW212C motorized filter wheels (the adapter an author copies)."""
