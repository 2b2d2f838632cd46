"""The five services of the one-stop backbone, and the `onestop` command that runs them."""
