"""Images: pictures in, superpixels as interpretable features.

Everything specific to images lives here: reading pictures (``reading``),
preprocessing for the model (``preprocess``), superpixels and hiding
(``domain``), pictures of explanations (``pictures``) and the command.
"""
