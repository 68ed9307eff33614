package protocol

import (
	"errors"
	"fmt"

	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Sentinel errors, one per wire error code. A WireError from a peer matches its sentinel
// with errors.Is.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrNotSteward   = errors.New("not the steward of this batch")
	ErrUnknownBatch = errors.New("unknown batch")
	ErrNotFound     = errors.New("not found")
	ErrTooLarge     = errors.New("too large")
	ErrRateLimited  = errors.New("rate limited")
	ErrBadSignature = errors.New("bad signature")
	ErrUnavailable  = errors.New("unavailable")
	ErrInternal     = errors.New("internal error")
	ErrFenced       = errors.New("primary epoch refused")
)

var codeErrors = map[pb.ErrorCode]error{
	pb.ErrorCode_BAD_REQUEST:   ErrBadRequest,
	pb.ErrorCode_NOT_STEWARD:   ErrNotSteward,
	pb.ErrorCode_UNKNOWN_BATCH: ErrUnknownBatch,
	pb.ErrorCode_NOT_FOUND:     ErrNotFound,
	pb.ErrorCode_TOO_LARGE:     ErrTooLarge,
	pb.ErrorCode_RATE_LIMITED:  ErrRateLimited,
	pb.ErrorCode_BAD_SIGNATURE: ErrBadSignature,
	pb.ErrorCode_UNAVAILABLE:   ErrUnavailable,
	pb.ErrorCode_INTERNAL:      ErrInternal,
	pb.ErrorCode_FENCED:        ErrFenced,
}

// WireError is an error a peer sent, or one we send.
type WireError struct {
	Code    pb.ErrorCode
	Message string
	Hint    peer.ID // with ErrNotSteward: who the peer believes stewards the batch
	// Addrs are where Hint may be dialled (optional; section 10.3): a peer with no route
	// to the hinted peer adds them to its peerstore before it follows the hint.
	Addrs []ma.Multiaddr
	// Epoch, with ErrFenced: the highest primary epoch the peer has promised (10.12).
	Epoch uint64
	// Voters, optional with ErrFenced: the peer's voting set of the batch, newer than the
	// one the request named (10.12).
	Voters *pb.VotingSet
}

func (e *WireError) Error() string {
	kind, ok := codeErrors[e.Code]
	if !ok {
		kind = ErrInternal
	}
	if e.Message == "" {
		return kind.Error()
	}
	return fmt.Sprintf("%v: %s", kind, e.Message)
}

// Is makes errors.Is(err, ErrNotSteward) and friends work.
func (e *WireError) Is(target error) bool { return codeErrors[e.Code] == target }

// Errorf builds a WireError with a code and a message.
func Errorf(code pb.ErrorCode, format string, args ...any) *WireError {
	return &WireError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ToPB maps any error to its wire form: a WireError keeps its code, a sentinel (or an error
// wrapping one) gets the sentinel's code, anything else is INTERNAL. nil is OK.
func ToPB(err error) *pb.Error {
	if err == nil {
		return &pb.Error{}
	}
	var we *WireError
	if errors.As(err, &we) {
		e := &pb.Error{Code: we.Code, Message: we.Message, StewardHint: []byte(we.Hint), Epoch: we.Epoch, VotingSet: we.Voters}
		for _, a := range we.Addrs {
			e.StewardAddrs = append(e.StewardAddrs, a.Bytes())
		}
		return e
	}
	for code := pb.ErrorCode_BAD_REQUEST; code <= pb.ErrorCode_FENCED; code++ { // in a fixed order
		if errors.Is(err, codeErrors[code]) {
			return &pb.Error{Code: code, Message: err.Error()}
		}
	}
	return &pb.Error{Code: pb.ErrorCode_INTERNAL, Message: err.Error()}
}

// FromPB turns a received Error into a Go error; OK (or nil) is nil. An unknown code from a
// newer peer reads as INTERNAL. A hint or hint address that does not parse is dropped (at
// most MaxHintAddrs addresses are kept).
func FromPB(e *pb.Error) error {
	if e == nil || e.Code == pb.ErrorCode_OK {
		return nil
	}
	code := e.Code
	if _, ok := codeErrors[code]; !ok {
		code = pb.ErrorCode_INTERNAL
	}
	we := &WireError{Code: code, Message: e.Message, Epoch: e.Epoch, Voters: e.VotingSet}
	if len(e.StewardHint) > 0 {
		if id, err := peer.IDFromBytes(e.StewardHint); err == nil {
			we.Hint = id
		}
	}
	if we.Hint != "" {
		for _, b := range e.StewardAddrs {
			if len(we.Addrs) == MaxHintAddrs {
				break
			}
			if a, err := ma.NewMultiaddrBytes(b); err == nil {
				we.Addrs = append(we.Addrs, a)
			}
		}
	}
	return we
}
