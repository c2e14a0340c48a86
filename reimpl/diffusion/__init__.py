"""Continuous-token diffusion: the Gaussian diffusion of MAR's diffusion loss (training loss and
DDPM sampling) and the DPM-Solver++ that eMIGM samples it with."""
