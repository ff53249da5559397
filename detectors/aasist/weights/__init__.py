"""The official pre-trained AASIST weights, shipped as package data (see README.md beside this file)."""
