"""Text for DF-GAN: captions, the vocabulary, and the DAMSM sentence encoder.

    shape_captions.py    captions for the built-in shapes from their labels, and parse() back
    folder_captions.py   an image folder's captions: NAME.txt beside each image, a caption a line
    vocabulary.py        tokenize(), Vocabulary: words <-> indices, JSON, unknown words
    caption_set.py       CaptionSet: every image's captions as padded indices, drawn by index
    encoders.py          TextEncoder (bidirectional LSTM), ImageEncoder (small CNN)
    damsm.py             the DAMSM sentence-level matching loss
    matching.py          held-out matching accuracy (R-precision, R = 1)
    pretrain.py          Settings, pretrain(): both encoders trained with the DAMSM loss
    store.py             the encoder file (and AttnGAN text encoders), its cache path
    sentence_encoder.py  SentenceEncoder: frozen, captions -> sentence vectors
    prepare.py           prepare_text(): the entry point DF-GAN's training calls
"""
