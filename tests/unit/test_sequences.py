"""Frame files are recognised, named as one version, and their gaps found."""

from __future__ import annotations

from axiomd.sequences import frame_file, frame_of, frame_range, sequence_name, store_pattern


def test_a_frame_is_a_number_of_three_or_more_digits_before_an_image_extension() -> None:
    frame = frame_of("TST_SQ010_SH0010_comp_v003.1001.exr")
    assert frame is not None and (frame.number, frame.padding) == (1001, 4)
    assert frame_of("TST_SQ010_SH0010_comp_v003.1001.mov") is None
    assert frame_of("clip.01.exr") is None


def test_a_sequence_is_checked_by_its_name_without_the_frame_number() -> None:
    assert sequence_name(store_pattern("A_v003", 4, "exr")) == "A_v003.exr"


def test_frame_files_are_named_from_the_pattern() -> None:
    assert frame_file("A_v003.####.exr", 7) == "A_v003.0007.exr"


def test_missing_frames_are_listed_and_the_range_written_as_artists_read_it() -> None:
    span = frame_range([1001, 1002, 1004, 1005])
    assert span.missing == (1003,)
    assert span.frames == "1001-1002,1004-1005"
