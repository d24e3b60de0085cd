"""Updaters distil the reweighted distribution f_t[w] into the next model f_{t+1}."""
