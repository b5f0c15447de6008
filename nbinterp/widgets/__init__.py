"""ipywidgets front end: controls and canvas views. No math lives here."""
