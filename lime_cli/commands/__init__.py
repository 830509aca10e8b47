"""One module per subcommand, plus the options and the run loop they share."""
