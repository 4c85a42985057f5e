"""The JSON report's collector (main process only), the terminal summary, HTML and charts."""
