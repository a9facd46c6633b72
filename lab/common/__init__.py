"""What both lab backends share: paths, shell, host state, keys, node table, salt-master,
converge, validate."""
