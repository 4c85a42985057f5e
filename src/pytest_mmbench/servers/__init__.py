"""Servers this run starts itself: the embedded llama.cpp and its tiny projector."""
