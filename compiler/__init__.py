"""mailauth.compiler: mailauth.yaml -> model -> plan -> files, and the commands around it."""
