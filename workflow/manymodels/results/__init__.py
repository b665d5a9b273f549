"""What reads results: aggregation of score files, selection, the results store and its command
line, plots, the HTML report and the run summary."""
