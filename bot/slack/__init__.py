"""The Slack channel: a Bolt app for DMs, mentions, threads, buttons, approvals, /travelmate and App Home."""
