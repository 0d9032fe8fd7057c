package awsemu

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// waitForWaiters blocks until q has n waiters.
func waitForWaiters(q *invokeQueue, n int) {
	for {
		q.mu.Lock()
		got := len(q.waiters)
		q.mu.Unlock()
		if got == n {
			return
		}
	}
}

// TestInvokeQueueFIFO: waiters get their turn in arrival order, one at a time.
func TestInvokeQueueFIFO(t *testing.T) {
	q := &invokeQueue{}
	if err := q.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := q.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			q.release()
		}(i)
		waitForWaiters(q, i+1) // goroutine i is queued before i+1 starts
	}
	q.release()
	wg.Wait()
	if want := []int{0, 1, 2, 3, 4}; !slices.Equal(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	if q.busy || len(q.waiters) != 0 {
		t.Fatal("queue not free after everyone left")
	}
}

// TestInvokeQueueHonoursContext: a waiter whose context ends leaves the
// queue with the context's error and does not hold up those behind it.
func TestInvokeQueueHonoursContext(t *testing.T) {
	q := &invokeQueue{}
	if err := q.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() { gaveUp <- q.acquire(cctx) }()
	waitForWaiters(q, 1)
	later := make(chan error)
	go func() { later <- q.acquire(context.Background()) }()
	waitForWaiters(q, 2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	q.release()
	if err := <-later; err != nil {
		t.Fatalf("waiter behind a cancelled one: %v", err)
	}
	q.release()
	if q.busy {
		t.Fatal("queue still busy")
	}
}
