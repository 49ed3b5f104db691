"""DICOM networking: ``dentalosteo send`` (C-STORE / C-ECHO SCU) and ``dentalosteo listen``
(Storage SCP that screens what it receives).

The only package of the product that opens sockets. It sits at the services level: it may
import ``core`` and ``services``, never ``gui``; the CLI imports it lazily, only inside the
``send`` and ``listen`` commands (tests/test_pacs.py checks both), so every other command
stays offline (tests/test_no_network.py).
"""
