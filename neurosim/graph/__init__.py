"""Event-driven graph IR and the lowering of model cards into it."""
