package protocol

import (
	"fmt"

	"allforone/protocol/pb"
)

// Validation of the result protocol (README.md section 12).

// ValidateResultRequest checks a result request before it is handled: a batch ID that is
// a content ID, a body this version knows, bounded task lists, and for StoreResults the
// batch's manifest (when sent) and at most MaxResultsPerMessage well-formed stored results
// of this batch.
func ValidateResultRequest(req *pb.ResultRequest) error {
	c := check{"ResultRequest"}
	id, err := c.batchID("batch_id", req.GetBatchId())
	if err != nil {
		return err
	}
	switch body := req.GetBody().(type) {
	case *pb.ResultRequest_Store:
		s := body.Store
		if err := c.manifest("store.manifest", s.GetManifest(), false, id); err != nil {
			return err
		}
		if n := len(s.GetResults()); n > MaxResultsPerMessage {
			return c.bad("store.results", "has %d results: send at most %d per message", n, MaxResultsPerMessage)
		}
		for i, sr := range s.GetResults() {
			if err := c.storedResult(sr, id); err != nil {
				return within(err, fmt.Sprintf("store.results[%d]", i))
			}
		}
		return nil
	case *pb.ResultRequest_Fetch:
		return c.tasks("fetch.tasks", body.Fetch.GetTasks())
	case *pb.ResultRequest_Have:
		return c.tasks("have.tasks", body.Have.GetTasks())
	}
	return c.bad("", "has no body, or one this peer does not know (from a newer version?): send one of store, fetch, have")
}

// ValidateResultResponse checks the answer to req: an error, or for FetchResults
// well-formed stored results of req's batch, each for a task req asked for and at most one
// per task; for StoreResults and HaveResults a have list of tasks req named. (Senders stop a
// FetchResults answer at MaxResultsPerMessage results; older Go peers did not when the
// outputs were empty, so a receiver bounds the answer by the tasks it asked for.)
func ValidateResultResponse(resp *pb.ResultResponse, req *pb.ResultRequest) error {
	c := check{"ResultResponse"}
	if resp.GetError().GetCode() != pb.ErrorCode_OK {
		return nil
	}
	var asked []uint32
	switch body := req.GetBody().(type) {
	case *pb.ResultRequest_Fetch:
		id, err := c.batchID("(request) batch_id", req.GetBatchId())
		if err != nil {
			return err
		}
		want := taskSet(body.Fetch.GetTasks())
		for i, sr := range resp.GetResults() {
			if err := c.storedResult(sr, id); err != nil {
				return within(err, fmt.Sprintf("results[%d]", i))
			}
			if !want[sr.GetTask()] {
				return c.bad(fmt.Sprintf("results[%d].task", i), "is %d, which the request did not ask for (or an earlier result was for it)", sr.GetTask())
			}
			delete(want, sr.GetTask())
		}
		return nil
	case *pb.ResultRequest_Have:
		asked = body.Have.GetTasks()
	case *pb.ResultRequest_Store:
		for _, sr := range body.Store.GetResults() {
			asked = append(asked, sr.GetTask())
		}
	default:
		return c.bad("", "answers a request with no body")
	}
	want := taskSet(asked)
	for i, t := range resp.GetHave() {
		if !want[t] {
			return c.bad(fmt.Sprintf("have[%d]", i), "is task %d, which the request did not name", t)
		}
	}
	return nil
}

func taskSet(ts []uint32) map[uint32]bool {
	m := make(map[uint32]bool, len(ts))
	for _, t := range ts {
		m[t] = true
	}
	return m
}
