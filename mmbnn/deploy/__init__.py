"""Deployment: bit-packed model files and the XNOR-popcount CPU runtime."""
