"""Regenerate docs/model_zoo.md and docs/model_zoo.png from the configs and
docs/model_zoo_data.yaml: ``python tools/gen_model_zoo.py [--check]``
(exit 1: the committed page is out of date; 2: bad input)."""
import sys

from mmbackbones.analysis.model_zoo import main

if __name__ == '__main__':
    from mmbackbones.cli.common import call_tool
    status = {}

    def run(argv):
        status['code'] = main(argv)

    code = call_tool(run, prog='gen_model_zoo.py', bad_input=(ValueError, ))
    sys.exit(code or status.get('code', 0))
