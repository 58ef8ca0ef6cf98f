"""The buyer's account: booking history and tickets."""
