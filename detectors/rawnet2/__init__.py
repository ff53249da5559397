"""RawNet2 detector family."""
