"""Fusion methods other than FNet: CSC-IVFN (``lzsc.methods.csc_ivfn``) and its fusion rules."""
