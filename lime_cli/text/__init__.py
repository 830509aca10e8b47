"""Text: documents in, words (or characters) as interpretable features.

Everything specific to text lives here: reading documents (``command``), the
interpretable representation (``domain``) and the command's options.
"""
