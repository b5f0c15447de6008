"""The compute core: a model's flattened graph, the one owner of compiled
functions, the description of a model's inputs, input batching, the
byte-bounded cache and the Inspector. Nothing here imports ipywidgets."""
