"""What a verification spends: usage credits and their refills (`credits.py`), the blocks
of credits a process leases from the store (`leases.py`), and the charge of one
verification, its rate limits then its credits (`charge.py`)."""
