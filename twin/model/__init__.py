"""The model both engines share: the generated city, what a deployment provisions and costs,
the metrics and the results.json format, the targets' verdict, the seeds of a replication's
draws and the statistics over replications. No engine, no output, no command line."""
