import ImagingCore

extension ImagingError.Code {
    /// `case.json` is missing, is not JSON, or breaks a sidecar rule (docs/formats.md).
    public static let annotationSidecarInvalid = Self("annotation_sidecar_invalid")
    /// The sidecar names a class the label catalog does not know.
    public static let annotationUnknownClass = Self("annotation_unknown_class")
    /// The label map holds values the sidecar does not list.
    public static let annotationLabelValues = Self("annotation_label_values")
    /// Image and label map are not on one grid (shape, or affine beyond the tolerance).
    public static let annotationGeometry = Self("annotation_geometry")
    /// The label map holds no annotated voxel.
    public static let annotationEmpty = Self("annotation_empty")
    /// The same image and label map are already in the dataset store.
    public static let annotationDuplicate = Self("annotation_duplicate")
    /// The image or the label map is missing, or the referenced job has no image.
    public static let annotationIncomplete = Self("annotation_incomplete")
    /// The image or the label map cannot be read as NIfTI / one DICOM series.
    public static let annotationUnreadable = Self("annotation_unreadable")
    /// The case folder holds a symlink, FIFO, device, socket or hard link, or is one.
    public static let annotationUnsafe = Self("annotation_unsafe")
    /// Warning (the case is accepted): a class declared present has no voxel in the map.
    public static let annotationClassAbsent = Self("annotation_class_absent")
    /// The dataset store's index or a case's entry.json cannot be read or written.
    public static let datasetStoreInvalid = Self("dataset_store_invalid")
}
