"""Where files live and what the user chose: paths, settings, secrets in the keyring, logs."""
