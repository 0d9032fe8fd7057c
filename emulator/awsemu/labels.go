package awsemu

import "slices"

// This file holds the staging-label rules. They are the heart of rotation and
// follow the documented behaviour of the real service:
//
//   - a label is attached to at most one version of a secret;
//   - attaching a label to a version removes it from whichever version had it;
//   - moving AWSCURRENT to another version moves AWSPREVIOUS onto the version
//     that held AWSCURRENT (and off whichever version had AWSPREVIOUS);
//   - versions without labels are deprecated, and past the ~100 versions
//     quota the oldest deprecated versions are dropped.

func removeString(list []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(x string) bool { return x == s })
}

// moveStage attaches stage to version to, removing it from every other version
// and applying the AWSCURRENT -> AWSPREVIOUS rule.
func (s *secret) moveStage(stage string, to *version) {
	from := s.holder(stage)
	if from == to {
		return
	}
	for _, v := range s.Versions {
		if v != to && v.hasStage(stage) {
			v.Stages = removeString(v.Stages, stage)
		}
	}
	to.Stages = append(to.Stages, stage)
	if stage != stageCurrent || from == nil {
		return
	}
	for _, v := range s.Versions {
		if v != from && v.hasStage(stagePrevious) {
			v.Stages = removeString(v.Stages, stagePrevious)
		}
	}
	if !from.hasStage(stagePrevious) {
		from.Stages = append(from.Stages, stagePrevious)
	}
}

// removeStage detaches stage from version v (no automatic moves).
func (s *secret) removeStage(stage string, v *version) {
	v.Stages = removeString(v.Stages, stage)
}

// stageLimitExceeded reports whether attaching the given labels would push the
// secret past the quota of distinct staging labels across all its versions.
func (s *secret) stageLimitExceeded(adding []string) bool {
	set := map[string]bool{}
	for _, v := range s.Versions {
		for _, st := range v.Stages {
			set[st] = true
		}
	}
	for _, st := range adding {
		set[st] = true
	}
	return len(set) > maxStagesPerSecret
}

// pruneVersions drops the oldest deprecated (unlabelled) versions while the
// secret has more than maxVersions versions. Labelled versions are never
// removed.
func (s *secret) pruneVersions() {
	if len(s.Versions) <= maxVersions {
		return
	}
	for _, v := range s.sortedVersions() {
		if len(s.Versions) <= maxVersions {
			return
		}
		if len(v.Stages) == 0 {
			delete(s.Versions, v.ID)
		}
	}
}
