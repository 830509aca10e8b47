"""Turning explanations into text, JSON and pictures; no computation here."""
